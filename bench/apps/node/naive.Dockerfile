# The node greeter as a newcomer writes it: one stage, the whole project copied first.
FROM node:20-bookworm-slim
WORKDIR /app
COPY . .
RUN npm install
RUN npm run build
RUN npm test
EXPOSE 3000
CMD ["npm", "start"]
